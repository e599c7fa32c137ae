package http

import (
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
)

// The bounds of ?limit= on every list route.
const (
	defaultPageLimit = 50
	maxPageLimit     = 200
)

// listJSON is the body of every list answer: {"data":[…],"next_cursor":…},
// next_cursor null on the last page.
type listJSON[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// newList makes a list answer; next is "" on the last page.
func newList[T any](data []T, next string) listJSON[T] {
	if data == nil {
		data = []T{}
	}
	l := listJSON[T]{Data: data}
	if next != "" {
		l.NextCursor = &next
	}
	return l
}

// mapList converts items with conv for a list answer.
func mapList[T, J any](items []T, next string, conv func(T) J) listJSON[J] {
	out := make([]J, 0, len(items))
	for _, it := range items {
		out = append(out, conv(it))
	}
	return newList(out, next)
}

// pageParams reads ?limit= (default 50, 1 to 200) and ?cursor= of a list
// route; the route's store checks the cursor.
func pageParams(rc *fasthttp.RequestCtx) (limit int, cursor string, err error) {
	args := rc.QueryArgs()
	limit = defaultPageLimit
	if raw := args.Peek("limit"); len(raw) > 0 || args.Has("limit") {
		n, err := strconv.Atoi(string(raw))
		if err != nil || n < 1 || n > maxPageLimit {
			return 0, "", &vayva.Error{Code: vayva.EINVALID, Message: "The request has invalid fields.",
				Fields: []vayva.FieldError{{Field: "limit", Message: "must be an integer from 1 to 200"}}}
		}
		limit = n
	}
	return limit, string(args.Peek("cursor")), nil
}

// timeJSON formats a timestamp as the API does: RFC 3339, UTC.
func timeJSON(t time.Time) string { return t.UTC().Format(time.RFC3339) }
