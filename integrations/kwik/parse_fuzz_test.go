package kwik

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

var knownStatuses = []Status{StatusRequested, StatusAssigned, StatusPickedUp, StatusInTransit, StatusDelivered, StatusFailed, StatusCanceled}

// FuzzParseAnswer feeds arbitrary bytes to the parsers of Kwik's answers
// the delivery flow depends on: the envelope, a view_task_by_relationship_id
// answer (the status tracking reads) and a create_task_via_vendor answer
// (the booking). They never panic; a task they accept has a job id and a
// known status, and errors are Kwik errors or not-found.
func FuzzParseAnswer(f *testing.F) {
	for _, s := range []string{
		`{"status":200,"message":"Successful","data":[{"job_id":41001,"job_type":0,"job_status":2},{"job_id":41002,"job_type":1,"job_status":1,"tracking_link":"https://t/x","fleet_name":"R"}]}`,
		`{"status":200,"message":"Successful","data":{"job_id":"41002","job_type":"1","job_status":"2"}}`,
		`{"status":404,"message":"No task found","data":[]}`,
		`{"status":101,"message":"INVALID_KEY"}`,
		`{"status":200,"data":{"unique_order_id":"dlv_x","job_id":41002,"pickup_job_id":41001,"job_status":6,"pickup_job_status":6}}`,
		`{"status":200,"data":[{"job_id":null,"job_status":-7}]}`,
		`{"status":200,"data":"nope"}`,
		`[]`, `null`, ``, `{"status":"200"}`,
	} {
		f.Add([]byte(s), true)
	}
	f.Add([]byte(`<html>bad gateway</html>`), false)
	f.Fuzz(func(t *testing.T, body []byte, ok bool) {
		status := 200
		if !ok {
			status = 502
		}
		var raw json.RawMessage
		err := decodeAnswer(status, ok, body, &raw)
		if err != nil {
			var e *Error
			require.True(t, errors.As(err, &e), "%v", err)
			require.NotEmpty(t, e.Error())
			return
		}
		task, err := parseTasks("dlv_fuzz", raw)
		if err == nil {
			require.NotEmpty(t, task.JobID)
			require.True(t, slices.Contains(knownStatuses, task.Status), task.Status)
			require.Equal(t, "dlv_fuzz", task.DeliveryID)
		} else {
			var e *Error
			require.True(t, errors.Is(err, ErrNotFound) || errors.As(err, &e), "%v", err)
		}
		var created taskWire
		if json.Unmarshal(raw, &created) == nil {
			ct := created.task()
			require.True(t, slices.Contains(knownStatuses, ct.Status), ct.Status)
		}
	})
}
