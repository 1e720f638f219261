import ArgumentParser
import CairnRelease

/// The key prefix of a bucket's layout.
struct PrefixOption: ParsableArguments {
    @Option(help: "Key prefix in the bucket (default: $COMPOSE_PREFIX, else none).")
    var prefix: String?

    var value: String { prefix ?? ProcessEnvironment.value("COMPOSE_PREFIX") ?? "" }
    var layout: BucketLayout { BucketLayout(prefix: value) }
}

/// Where the refs live: a bucket (or, for reading, a public base URL) and a prefix.
struct BucketOptions: ParsableArguments {
    @Option(help: "The bucket: s3+https://HOST/BUCKET[/PREFIX], a local directory or (to read) a public base URL.")
    var bucket: String

    @OptionGroup var prefix: PrefixOption

    var layout: BucketLayout { prefix.layout }
}
