/// Words that say nothing about which pipeline a request belongs to: English function words,
/// greetings and the generic vocabulary of any support request ("help", "question", "issue").
/// Removing the generic ones is what keeps "Question about services / Tell me more" from
/// matching a pipeline that happens to mention services.
enum StopWords {
    static func contains(_ word: String) -> Bool { words.contains(word) }

    /// Whether `stem` is the stem of a stop word, which catches inflections the list omits.
    static func containsStem(_ stem: String) -> Bool { stems.contains(stem) }

    private static let stems: Set<String> = Set(words.map(PorterStemmer.stem))

    private static let words: Set<String> = Set(
        """
        a about above across after afterwards again against all almost along already also although always am
        among an and another any anybody anyone anything anyway anywhere are arent around as at away back be
        became because become been before being below beside besides between both but by can cannot cant
        could couldnt did didnt do does doesnt doing done dont during each eg either else etc even ever every
        everyone everything few for from further get gets getting give given go goes going gone got gotten
        had hadnt has hasnt have havent having he hed her here hers herself him himself his how however i id
        ie if im in indeed into is isnt it its itself ive just last least less let lets like likely may maybe
        me might mine more most mostly much must my myself neither never nevertheless next no nobody none nor
        not nothing now of off often oh ok okay on once one only onto or other others otherwise our ours
        ourselves out over own per perhaps please pls plz quite rather re really regarding same seem seemed
        seems several shall she should shouldnt since so some somebody somehow someone something sometime
        sometimes somewhere still such sure than that thats the their theirs them themselves then there
        thereby therefore these they theyre thing things this those though through thru thus to together too
        toward towards under until unto up upon us very via was wasnt we well were werent weve what whatever
        when whenever where whereas wherever whether which while who whoever whole whom whose why will with
        within without wont would wouldnt yes yet you youd youll your youre yours yourself yourselves
        hi hello hey dear greetings thanks thank thx ty cheers regards sincerely best kind kindly
        help helping assist assistance support question questions query ask asking issue issues problem
        problems request requests requesting need needs needed want wants wanted wish know knows tell told
        info information detail details asap urgent urgently quick quickly soon minute moment chat call
        follow following followup previous message messages email emails mail see below attached fyi fw fwd
        able unable try tried trying anyone sorry hope hoping new make made way use using used something
        stuff service services product products company customer customers thing work working works worked
        time times today tomorrow yesterday tonight morning afternoon evening day days week weeks month
        months year years weekly monthly daily yearly annually annual
        monday tuesday wednesday thursday friday saturday sunday january february march april june july
        august september october november december
        hour hours seem good great fine nice lot lots many much little bit
        test testing
        change changes changed changing update updates updated updating add added adding remove removed
        create created send sent receive received show shows showed shown keep keeps kept start started
        starting set find look looking check checking
        """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
    )
}
