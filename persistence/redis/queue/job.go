package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Job is the envelope of one unit of background work as it travels through
// a queue.
type Job struct {
	// ID is unique per job and stable across retries and redeliveries;
	// handlers dedupe their effects on it. Enqueue fills in a random one when
	// empty.
	ID string
	// Queue is the queue the job is on; set by Enqueue.
	Queue string
	// Key orders jobs of partitioned queues (e.g. a conversation id): jobs
	// with the same key are handled one at a time, in enqueue order.
	// Required on partitioned queues, optional elsewhere.
	Key string
	// Type tells the handler what the payload is, e.g. "email.send".
	Type string
	// Attempt is the 1-based number of the current attempt. Deliveries to a
	// consumer that died before finishing count as attempts.
	Attempt int
	// MaxAttempts is the attempt limit; 0 on enqueue means the queue's.
	MaxAttempts int
	// EnqueuedAt is when the job was first enqueued (millisecond precision).
	EnqueuedAt time.Time
	// Payload is the handler's input, opaque to the queue.
	Payload []byte
	// LastError is the error of the previous attempt, if any.
	LastError string
}

// Handler processes one job. Returning nil acknowledges it; an error makes
// the queue retry it with backoff until its attempts are used up, then
// dead-letter it. Handlers must honour ctx: it is cancelled when the
// consumer loses the job (lease lost, hard stop). Delivery is at least once,
// so a handler must be idempotent on Job.ID.
type Handler func(ctx context.Context, job Job) error

// Stream entry field names.
const (
	fieldID      = "id"
	fieldType    = "type"
	fieldKey     = "key"
	fieldAttempt = "attempt"
	fieldMax     = "max"
	fieldAt      = "at"
	fieldData    = "data"
	fieldErr     = "err"
	fieldDeadAt  = "dead_at"
	fieldSource  = "src"
)

// maxFieldLen bounds the envelope's text fields so a corrupt entry cannot
// make us allocate much; payloads are bounded by Redis itself.
const maxFieldLen = 64 << 10

// values returns the job as stream entry field/value pairs, in the form
// XADD and the Lua scripts take.
func (j *Job) values() []any {
	v := make([]any, 0, 16)
	v = append(v, fieldID, j.ID, fieldType, j.Type)
	if j.Key != "" {
		v = append(v, fieldKey, j.Key)
	}
	v = append(v,
		fieldAttempt, strconv.Itoa(j.Attempt),
		fieldMax, strconv.Itoa(j.MaxAttempts),
		fieldAt, strconv.FormatInt(j.EnqueuedAt.UnixMilli(), 10),
		fieldData, j.Payload)
	if j.LastError != "" {
		v = append(v, fieldErr, j.LastError)
	}
	return v
}

// ingestValues is values for a job's first entry written by IngestOnce,
// without the fields whose values the entry itself implies: attempt (1),
// max when it is the queue's maxAttempts, and at (the entry id's time).
// Every field is a script argument on the webhook hot path, where each
// costs Redis about a microsecond; completeEntry puts them back on read.
func (j *Job) ingestValues(maxAttempts int) []any {
	v := make([]any, 0, 10)
	v = append(v, fieldID, j.ID, fieldType, j.Type)
	if j.Key != "" {
		v = append(v, fieldKey, j.Key)
	}
	if j.MaxAttempts != maxAttempts {
		v = append(v, fieldMax, strconv.Itoa(j.MaxAttempts))
	}
	return append(v, fieldData, j.Payload)
}

// completeEntry fills in the fields ingestValues leaves out of a stream
// entry m of a queue whose attempt limit is maxAttempts, so decodeJob sees
// a whole job: attempt 1, the queue's limit, and the entry id's time as
// the enqueue time. Present fields are left as they are.
func completeEntry(id string, fields map[string]any, maxAttempts int) {
	if fields == nil {
		return
	}
	if _, ok := fields[fieldAttempt]; !ok {
		fields[fieldAttempt] = "1"
	}
	if _, ok := fields[fieldMax]; !ok {
		fields[fieldMax] = strconv.Itoa(maxAttempts)
	}
	if _, ok := fields[fieldAt]; !ok {
		ms, _, _ := strings.Cut(id, "-")
		fields[fieldAt] = ms
	}
}

// decodeEntry decodes a job stream entry of queue s: the fields an
// ingested entry leaves out are filled in first (completeEntry), so every
// reader of a job stream sees whole jobs.
func decodeEntry(s QueueSpec, m goredis.XMessage) (Job, error) {
	completeEntry(m.ID, m.Values, s.MaxAttempts)
	return decodeJob(s.Name, m.Values)
}

// decodeJob parses a stream entry's fields into a Job of queue q. It
// accepts what values produces and rejects anything else.
func decodeJob(q string, fields map[string]any) (Job, error) {
	j := Job{Queue: q}
	str := func(name string, required bool) (string, error) {
		raw, ok := fields[name]
		if !ok {
			if required {
				return "", fmt.Errorf("queue: decode: field %q missing", name)
			}
			return "", nil
		}
		s, ok := raw.(string)
		if !ok {
			return "", fmt.Errorf("queue: decode: field %q is not a string", name)
		}
		if name != fieldData && len(s) > maxFieldLen {
			return "", fmt.Errorf("queue: decode: field %q too long", name)
		}
		return s, nil
	}
	num := func(name string, min int64) (int64, error) {
		s, err := str(name, true)
		if err != nil {
			return 0, err
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < min {
			return 0, fmt.Errorf("queue: decode: field %q: invalid number %q", name, s)
		}
		return n, nil
	}
	var err error
	if j.ID, err = str(fieldID, true); err != nil {
		return Job{}, err
	}
	if j.ID == "" {
		return Job{}, errors.New("queue: decode: empty id")
	}
	if j.Type, err = str(fieldType, true); err != nil {
		return Job{}, err
	}
	if j.Key, err = str(fieldKey, false); err != nil {
		return Job{}, err
	}
	if j.LastError, err = str(fieldErr, false); err != nil {
		return Job{}, err
	}
	attempt, err := num(fieldAttempt, 1)
	if err != nil {
		return Job{}, err
	}
	maxAttempts, err := num(fieldMax, 1)
	if err != nil {
		return Job{}, err
	}
	if attempt > 1<<20 || maxAttempts > 1<<20 {
		return Job{}, errors.New("queue: decode: attempt counters out of range")
	}
	j.Attempt, j.MaxAttempts = int(attempt), int(maxAttempts)
	at, err := num(fieldAt, 0)
	if err != nil {
		return Job{}, err
	}
	if at > 1<<53 {
		return Job{}, errors.New("queue: decode: enqueue time out of range")
	}
	j.EnqueuedAt = time.UnixMilli(at)
	data, err := str(fieldData, true)
	if err != nil {
		return Job{}, err
	}
	j.Payload = []byte(data)
	return j, nil
}

// encodeMember encodes field/value pairs as a sequence of netstrings
// ("<len>:<bytes>"), the form the delayed set stores and the mover script
// turns back into XADD arguments.
func encodeMember(values []any) string {
	var b []byte
	for _, v := range values {
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case []byte:
			s = string(x)
		default:
			s = fmt.Sprint(x)
		}
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	return string(b)
}

// decodeMember parses what encodeMember produced into a field map.
func decodeMember(s string) (map[string]any, error) {
	var parts []string
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' && j-i < 10 {
			j++
		}
		if j == i || j >= len(s) || s[j] != ':' {
			return nil, errors.New("queue: decode member: bad length")
		}
		n, _ := strconv.Atoi(s[i:j])
		if n > len(s)-j-1 {
			return nil, errors.New("queue: decode member: truncated")
		}
		parts = append(parts, s[j+1:j+1+n])
		i = j + 1 + n
	}
	if len(parts) == 0 || len(parts)%2 != 0 {
		return nil, errors.New("queue: decode member: odd field count")
	}
	m := make(map[string]any, len(parts)/2)
	for i := 0; i < len(parts); i += 2 {
		m[parts[i]] = parts[i+1]
	}
	return m, nil
}
