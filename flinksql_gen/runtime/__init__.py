"""Where bundles meet Flink: Java and the jars (Maven Central, our own format built with javac), the
one TableEnvironment factory, the pipeline runner, `check` against the real planner, and the
isolated Flink 1.20 runtime of the aiven target (`runtime.aiven`). Process management of the local
stack lives in `flinksql_gen.stack`, which uses this layer, never the other way round."""
