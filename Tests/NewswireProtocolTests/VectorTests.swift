import Foundation
import NIOCore
import NewswireModel
import NewswireTestFixtures
import Testing

@testable import NewswireProtocol

/// The committed test vectors in proto-docs/vectors/ (PROTOCOL.md §12).
///
/// Normal runs compare the vectors generated from ``Fixtures`` with the committed files byte for byte, and
/// decode every committed vector independently. `NEWSWIRE_WRITE_VECTORS=1 swift test --filter VectorTests`
/// rewrites the files after an intentional codec change.
@Suite("Test vectors")
struct VectorTests {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("proto-docs/vectors")
    static let writing = ProcessInfo.processInfo.environment["NEWSWIRE_WRITE_VECTORS"] == "1"

    // MARK: Rendering

    static func hex(_ bytes: some Sequence<UInt8>) -> String { VectorFiles.hex(bytes) }

    static func flagNames(_ flags: FrameFlags) -> [String] {
        var names: [String] = []
        if flags.contains(.compressed) { names.append("COMPRESSED") }
        if flags.contains(.moreToFollow) { names.append("MORE_TO_FOLLOW") }
        return names
    }

    static func render(_ object: Any) -> String { VectorFiles.render(object) }

    static func validDocument() throws -> [String: Any] {
        var entries: [[String: Any]] = []
        for vector in validVectors {
            var wire = vector.bytes
            var decoder = NewswireFrameDecoder()
            let frame = try #require(try decoder.decode(buffer: &wire))
            let header = frame.header
            var entry: [String: Any] = [
                "name": vector.name, "note": vector.note, "kind": vector.kind,
                "hex": hex(vector.bytes.readableBytesView),
                "header": [
                    "version": Int(header.version), "flags": flagNames(header.flags), "opcode": header.opcode.name,
                    "opcodeValue": Int(header.opcode.rawValue), "requestId": Int(header.requestID.rawValue),
                    "payloadLength": Int(header.payloadLength),
                ] as [String: Any],
                "payloadHex": hex(frame.payload.readableBytesView),
            ]
            if frame.wasCompressed { entry["uncompressedLength"] = frame.payload.readableBytes }
            entry["meaning"] =
                vector.kind == "request"
                ? try Meaning.describe(Request(frame: frame)) : try Meaning.describe(Response(frame: frame))
            entries.append(entry)
        }
        return [
            "description": "Valid Newswire v1 frames. hex is the whole frame; payloadHex the payload after "
                + "inflating; meaning the decoded message (PROTOCOL.md §12).",
            "zlibVersion": linkedZlibVersion, "zlibLevel": 6, "vectors": entries,
        ]
    }

    static func invalidDocument() -> [String: Any] {
        let entries: [[String: Any]] = invalidVectors.map { vector in
            [
                "name": vector.name, "note": vector.note, "hex": hex(vector.bytes), "stage": vector.stage,
                "limits": [
                    "maxFrameLength": Int(vector.limits.maxFrameLength),
                    "maxDecompressedLength": Int(vector.limits.maxDecompressedLength),
                ],
                "error": [
                    "code": Int(vector.code.rawValue), "codeName": vector.code.name,
                    "requestId": vector.requestID.map { Int($0) } ?? NSNull(),
                    "closesConnection": vector.code.closesConnection,
                ] as [String: Any],
            ]
        }
        return [
            "description": "Invalid Newswire v1 input. stage says which step rejects it: frame (the frame "
                + "decoder, connection closes), message (payload decoding, connection survives) or record (an "
                + "article record inside a valid response). error is what the receiver reports (PROTOCOL.md §12).",
            "vectors": entries,
        ]
    }

    static func committed(_ file: String) throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent(file))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    static func bytes(fromHex hex: String) -> [UInt8] { VectorFiles.bytes(fromHex: hex) }

    // MARK: Tests

    @Test("generated vectors match the committed files byte for byte")
    func generatedMatchCommitted() throws {
        let valid = try Self.validDocument()
        let invalid = Self.invalidDocument()
        if Self.writing {
            try FileManager.default.createDirectory(at: Self.directory, withIntermediateDirectories: true)
            try Self.render(valid).write(
                to: Self.directory.appendingPathComponent("valid.json"), atomically: true, encoding: .utf8)
            try Self.render(invalid).write(
                to: Self.directory.appendingPathComponent("invalid.json"), atomically: true, encoding: .utf8)
            try Self.render(try Self.sessionDocument()).write(
                to: Self.directory.appendingPathComponent("session.json"), atomically: true, encoding: .utf8)
        }
        #expect(
            Self.render(try Self.sessionDocument()) == Self.render(try Self.committed("session.json")),
            "session.json differs from the codec's output")
        let committedValid = try Self.committed("valid.json")
        let committedInvalid = try Self.committed("invalid.json")
        #expect(Self.render(invalid) == Self.render(committedInvalid), "invalid.json differs from the codec's output")

        let sameZlib = committedValid["zlibVersion"] as? String == linkedZlibVersion
        let generated = valid["vectors"] as! [[String: Any]]
        let stored = committedValid["vectors"] as! [[String: Any]]
        #expect(generated.count == stored.count)
        for (mine, theirs) in zip(generated, stored) {
            let compressed = (mine["header"] as! [String: Any])["flags"] as! [String] != []
            if compressed && !sameZlib {
                // Another zlib may deflate differently; the payload and meaning must still agree.
                #expect(mine["payloadHex"] as? String == theirs["payloadHex"] as? String, "\(mine["name"]!)")
                #expect(Self.render(mine["meaning"]!) == Self.render(theirs["meaning"]!), "\(mine["name"]!)")
            } else {
                #expect(Self.render(mine) == Self.render(theirs), "vector \(mine["name"]!) differs")
            }
        }
    }

    @Test("every committed valid vector decodes to its stated header, payload and meaning")
    func committedValidDecode() throws {
        let stored = try Self.committed("valid.json")["vectors"] as! [[String: Any]]
        #expect(stored.count >= 30)
        for vector in stored {
            let name = vector["name"] as! String
            var wire = ByteBuffer(bytes: Self.bytes(fromHex: vector["hex"] as! String))
            var decoder = NewswireFrameDecoder()
            let frame = try #require(try decoder.decode(buffer: &wire), "\(name)")
            #expect(wire.readableBytes == 0, "\(name): bytes left after the frame")
            let header = vector["header"] as! [String: Any]
            #expect(Int(frame.header.version) == header["version"] as! Int)
            #expect(Self.flagNames(frame.header.flags) == header["flags"] as! [String], "\(name)")
            #expect(Int(frame.opcode.rawValue) == header["opcodeValue"] as! Int, "\(name)")
            #expect(frame.opcode.name == header["opcode"] as! String, "\(name)")
            #expect(Int(frame.requestID.rawValue) == header["requestId"] as! Int, "\(name)")
            #expect(Int(frame.header.payloadLength) == header["payloadLength"] as! Int, "\(name)")
            #expect(Self.hex(frame.payload.readableBytesView) == vector["payloadHex"] as! String, "\(name)")
            let meaning =
                vector["kind"] as! String == "request"
                ? try Meaning.describe(Request(frame: frame)) : try Meaning.describe(Response(frame: frame))
            #expect(Self.render(meaning) == Self.render(vector["meaning"]!), "\(name): decoded meaning differs")
        }
    }

    @Test("every committed invalid vector fails with its documented error")
    func committedInvalidFail() throws {
        let stored = try Self.committed("invalid.json")["vectors"] as! [[String: Any]]
        #expect(stored.count >= 20)
        for vector in stored {
            let name = vector["name"] as! String
            let limitsObject = vector["limits"] as! [String: Any]
            let limits = FrameLimits(
                maxFrameLength: UInt32(limitsObject["maxFrameLength"] as! Int),
                maxDecompressedLength: UInt32(limitsObject["maxDecompressedLength"] as! Int))
            let expected = vector["error"] as! [String: Any]
            let stage = vector["stage"] as! String
            var wire = ByteBuffer(bytes: Self.bytes(fromHex: vector["hex"] as! String))
            var decoder = NewswireFrameDecoder(limits: limits)
            var failure: ProtocolError?
            var failedAt = "none"
            do {
                let frame = try #require(try decoder.decode(buffer: &wire), "\(name): incomplete frame")
                failedAt = "message"
                if frame.opcode.isResponse {
                    let response = try Response(frame: frame)
                    failedAt = "record"
                    if case .article(let message) = response { _ = try message.record.decode() }
                } else {
                    _ = try Request(frame: frame)
                }
                failedAt = "none"
            } catch let error as ProtocolError {
                failure = error
                if failedAt == "none" { failedAt = "frame" }
            }
            let error = try #require(failure, "\(name) was accepted")
            #expect(failedAt == stage, "\(name)")
            #expect(Int(error.code.rawValue) == expected["code"] as! Int, "\(name): \(error)")
            #expect(error.code.closesConnection == expected["closesConnection"] as! Bool)
            if stage != "record" {
                #expect(error.requestID.map { Int($0.rawValue) } == expected["requestId"] as? Int, "\(name)")
            }
            #expect(!error.message.isEmpty)
        }
    }
}
