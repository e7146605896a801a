import NIOCore
import Testing

@testable import NewswireProtocol

/// Inputs that once crashed a decoder. Each is the fuzz target's input format (fuzz/FuzzDecoders.swift):
/// byte 0 odd → bytes 1-2 opcode + payload; even → a frame stream.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    @Test("PublishedTime offset of Int64.min (zigzag 2^64-1) is malformed, not a trap in abs()")
    func offsetInt64Min() throws {
        // SCAN with published_from { utc_offset = zigzag(0xFFFFFFFFFFFFFFFF) = Int64.min }. Found in review,
        // reproduced with the fuzz harness (AddressSanitizer trap) before the fix.
        let input: [UInt8] = [0x01, 0x00, 0x0A, 0x1A, 0x0B, 0x10] + [UInt8](repeating: 0xFF, count: 9) + [0x01]
        let opcode = Opcode(rawValue: UInt16(input[1]) << 8 | UInt16(input[2]))
        let error = try #require(throws: ProtocolError.self) {
            try Request.decode(opcode: opcode, payload: ByteBuffer(bytes: input[3...]))
        }
        #expect(error.code == .malformedMessage)
        #expect(error.message.contains("Scan.PublishedTime field 2"))
    }
}
