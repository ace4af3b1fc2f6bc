import Foundation

/// How the controller reads the JSON bodies of its POST routes, in one place for the routes and the
/// fuzzer. A body that is not the request throws the decoder's error (the route answers 400 with it).
extension SubmitRequest {
    /// The body of `POST /v1/jobs`.
    public init(body: some Collection<UInt8>) throws {
        self = try APICoding.decoder().decode(Self.self, from: Data(body))
    }
}

extension ChaosRequest {
    /// The body of `POST /v1/jobs/{id}/chaos`.
    public init(body: some Collection<UInt8>) throws {
        self = try APICoding.decoder().decode(Self.self, from: Data(body))
    }
}
