import Foundation

/// A value one thread sets and another reads. For values several threads add to, a read then a
/// write would lose updates: use a collection that adds under its lock.
public final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T?

    public init() {}

    public var value: T? {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
