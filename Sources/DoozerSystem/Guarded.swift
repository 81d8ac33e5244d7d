#if canImport(Glibc)
import Glibc
#endif

/// A value several threads share, reached only inside `withLock`, under a pthread mutex. Owns
/// the mutex and the value; never hands out a reference to the value, and never lets `body`
/// run without the mutex held.
///
/// Every handoff between threads in the package goes through this type rather than
/// `Synchronization.Mutex`: on Linux, Mutex takes and releases a contended lock inside the
/// standard library, which is not instrumented — a spin on a plain compare-and-swap, then a
/// priority-inheriting futex in the kernel — so ThreadSanitizer never sees the release happen
/// before the next acquire and reports every contended handoff as a data race.
/// ThreadSanitizer intercepts pthread_mutex_lock and pthread_mutex_unlock, so a race it
/// reports on a value kept here is a real one.
///
/// `body` must not call `withLock` on the same instance: the mutex is not recursive.
public final class Guarded<Value> {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let status = pthread_mutex_init(mutex, nil)
        precondition(status == 0, "pthread_mutex_init failed with \(status)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` on the value with the mutex held; blocks while another thread holds it.
    @inlinable
    public func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}

/// Safe to share when the value is: every access to it holds the mutex.
extension Guarded: @unchecked Sendable where Value: Sendable {}
