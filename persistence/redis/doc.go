// Package redis adapts Redis (through go-redis v9) for the runtime: one
// Client per process that owns the connection pool and a key prefix.
//
// Every key the runtime touches is built with Client.Key, so several
// deployments, and every test, can share one Redis server without seeing
// each other's keys. The job queues on top of it live in package queue.
//
// The runtime expects Redis 7.0 or newer, configured with appendonly yes and
// maxmemory-policy noeviction; see package queue for why.
package redis
