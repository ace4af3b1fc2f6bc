/// The HTTP API's path prefix. A breaking change to any endpoint gets a new prefix.
public enum APIVersion {
    public static let prefix = "/v1"
}
