import NewswireSearch
import NewswireStore

/// The engine's boundary: its callers see ``EngineError`` only, never the store's or the query parser's errors.
extension EngineError {
    /// `error` in the engine's terms: a full store becomes ``Code/storeFull``, another store failure
    /// ``Code/storeFailed``, a malformed query ``Code/badQuery``; anything else (an ``EngineError`` already)
    /// passes through.
    static func mapping(_ error: any Error) -> any Error {
        switch error {
        case let error as StoreError where error.code == .full:
            return EngineError(.storeFull, error.message)
        case let error as StoreError where error.code == .damaged:
            return EngineError(.storeDamaged, error.message)
        case let error as StoreError:
            return EngineError(.storeFailed, "store error: \(error.message)")
        case let error as QueryError:
            return EngineError(.badQuery, "bad query at character \(error.position): \(error.message)")
        default:
            return error
        }
    }
}

/// Runs a store or index call, throwing its failure as an ``EngineError`` (see ``EngineError/mapping(_:)``).
@inline(__always)
func mappingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch {
        throw EngineError.mapping(error)
    }
}
