// Package messages is the wire contract between the edge, the queue
// ingestors and the actors: commands, replies and events as protobuf
// messages. The .proto files are the source; the .pb.go files are generated
// by `make proto` and committed.
package messages

//go:generate make -C .. proto
