import CCurl

/// A `curl_slist` (header lines, SMTP recipients), freed with the object.
///
/// The handle only borrows the list: keep this object alive until the transfer ends.
final class StringList {
    private(set) var head: UnsafeMutablePointer<curl_slist>?

    /// Builds the list; libcurl copies each string. Items must not contain NUL (callers check).
    init(_ items: [String]) throws {
        for item in items {
            guard let extended = curl_slist_append(head, item) else {
                curl_slist_free_all(head)
                head = nil
                throw CurlError(.other, message: "curl_slist_append failed: out of memory")
            }
            head = extended
        }
    }

    deinit {
        curl_slist_free_all(head)
    }
}
