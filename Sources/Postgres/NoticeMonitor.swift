import CLibPQ

/// Receives libpq notices for one connection. Touched only while libpq runs on that
/// connection, which happens with the session lock held.
final class NoticeMonitor {
    /// A FATAL or PANIC arrived while the connection was idle: the backend is about to exit.
    var fatalSeen = false

    /// Installs the receiver. The monitor must outlive the connection (the session owns both).
    ///
    /// A backend told to exit (pg_terminate_backend, shutdown) sends its FATAL message a
    /// moment before closing the socket. libpq hands errors that arrive while idle to the
    /// notice receiver; remembering them lets the idle probe catch that window too.
    /// Replacing the default receiver also stops libpq printing NOTICEs to stderr, which a
    /// library has no business doing.
    func install(on conn: OpaquePointer) {
        PQsetNoticeReceiver(conn, { context, result in
            guard let context, let result,
                let severity = PQresultErrorField(result, Int32(UInt8(ascii: "V")))
            else { return }
            let level = String(cString: severity)
            if level == "FATAL" || level == "PANIC" {
                Unmanaged<NoticeMonitor>.fromOpaque(context).takeUnretainedValue().fatalSeen = true
            }
        }, Unmanaged.passUnretained(self).toOpaque())
    }
}
