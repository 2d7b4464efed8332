/// Which Conveyor this is. The version lives here and nowhere else: `--version` of the three
/// binaries, `/health` and `conveyor_build_info` read it, and a test holds CHANGELOG.md's newest
/// entry to it.
public enum BuildInfo {
    /// Semantic version of this build.
    public static let version = "0.10.0"
}
