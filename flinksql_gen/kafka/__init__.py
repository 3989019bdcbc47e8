"""The Kafka client layer: topics, producing, reading, and watching a job's sink topics. Every call
takes the bootstrap servers explicitly; the client settings every connection shares (and the
broker quirks they work around) are decided once, in `kafka.client`."""
