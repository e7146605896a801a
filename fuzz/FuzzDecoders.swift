// libFuzzer target for the NewswireProtocol frame and message decoders (see fuzz/run.sh).
//
// Input byte 0 picks the mode:
//   even: the rest is a byte stream for NewswireFrameDecoder (1 MiB limits); every decoded frame's message
//         and every article record inside it is decoded too.
//   odd:  bytes 1-2 are an opcode (big-endian) and the rest is a payload given straight to the message
//         decoders, so the fuzzer reaches message parsing without first having to learn the frame header.
// Every message that decodes is re-encoded, decoded again and re-encoded: the two encodings must be equal.
// Frames from the stream also drive a ServerConnectionStateMachine, whose actions must keep its invariants.
// Any crash, sanitizer report or failed precondition is a bug.
import NIOCore
import NewswireProtocol

let limits = FrameLimits(maxFrameLength: 1 << 20, maxDecompressedLength: 1 << 20)
let policy = HandshakePolicy(serverName: "fuzz", limits: limits, maxInFlight: 4)

func checkRequest(_ request: Request) {
    var first = ByteBuffer()
    request.encode(into: &first)
    guard let again = try? Request.decode(opcode: request.opcode, payload: first) else {
        preconditionFailure("re-encoded \(request.opcode) does not decode")
    }
    var second = ByteBuffer()
    again.encode(into: &second)
    precondition(first == second, "\(request.opcode) encoding is not stable")
    switch request {
    case .put(let put): for record in put.records { _ = try? record.decode() }
    default: break
    }
}

func checkResponse(_ response: Response) {
    var first = ByteBuffer()
    response.encode(into: &first)
    guard let again = try? Response.decode(opcode: response.opcode, payload: first) else {
        preconditionFailure("re-encoded \(response.opcode) does not decode")
    }
    var second = ByteBuffer()
    again.encode(into: &second)
    precondition(first == second, "\(response.opcode) encoding is not stable")
    var records: [ArticleRecord] = []
    switch response {
    case .article(let message): records = [message.record]
    case .articles(let message): records = message.records
    case .ingestResult(let message): records = [message.record]
    case .scanBatch(let message): records = message.records
    default: break
    }
    for record in records {
        if let article = try? record.decode() {
            precondition((try? ArticleRecord(article).decode()) != nil, "re-encoded article does not decode")
        }
    }
}

func decodePayload(opcode: Opcode, payload: ByteBuffer) {
    if opcode.isResponse {
        if let response = try? Response.decode(opcode: opcode, payload: payload) { checkResponse(response) }
    } else {
        if let request = try? Request.decode(opcode: opcode, payload: payload) { checkRequest(request) }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    if bytes[0] & 1 == 1 {
        guard size >= 3 else { return 0 }
        let opcode = Opcode(rawValue: UInt16(bytes[1]) << 8 | UInt16(bytes[2]))
        decodePayload(opcode: opcode, payload: ByteBuffer(bytes: bytes[3...]))
        return 0
    }
    var buffer = ByteBuffer(bytes: bytes[1...])
    var decoder = NewswireFrameDecoder(limits: limits)
    // The frames also drive a server connection state machine; bit 1 of byte 0 completes requests as they run.
    var machine = ServerConnectionStateMachine(policy: policy)
    let completeRequests = bytes[0] & 2 != 0
    do {
        while let frame = try decoder.decode(buffer: &buffer) {
            precondition(frame.payload.readableBytes <= Int(limits.maxDecompressedLength))
            decodePayload(opcode: frame.opcode, payload: frame.payload)
            switch machine.frameReceived(frame) {
            case .run(_, let id):
                precondition(machine.inFlight.contains(id))
                if completeRequests { machine.requestCompleted(id) }
            case .reject(let error):
                precondition(error.requestID == frame.requestID && !error.code.closesConnection)
            case .close:
                precondition(machine.state == .closed, "close action but state \(machine.state)")
            case .sendWelcome, .cancel:
                break
            }
        }
    } catch {
        precondition(error.code.closesConnection, "frame decoder threw a request-level error: \(error)")
    }
    return 0
}
