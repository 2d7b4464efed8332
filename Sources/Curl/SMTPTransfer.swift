/// The state one SMTP upload's callbacks share: the message being read out and the transcript
/// of commands and replies. libcurl calls back on the thread running `perform()`.
final class SMTPTransfer {
    private let message: [UInt8]
    private var offset = 0
    var transcript = SMTPTranscript()

    init(message: [UInt8]) {
        self.message = message
    }

    /// CURLOPT_READFUNCTION: copies the next chunk of the message; 0 ends the upload.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let count = min(buffer.count, message.count - offset)
        guard count > 0 else { return 0 }
        message.withUnsafeBytes { source in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + count)]))
        }
        offset += count
        return count
    }
}
