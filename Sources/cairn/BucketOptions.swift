import ArgumentParser
import CairnRelease

/// Where the refs live: a bucket (or, for reading, a public base URL) and a prefix.
struct BucketOptions: ParsableArguments {
    @Option(help: "The bucket: s3+https://HOST/BUCKET[/PREFIX], a local directory or (to read) a public base URL.")
    var bucket: String

    @Option(help: "Key prefix in the bucket (default: $COMPOSE_PREFIX, else none).")
    var prefix: String?

    var layout: BucketLayout { BucketLayout(prefix: prefix ?? ProcessEnvironment.value("COMPOSE_PREFIX") ?? "") }
}
