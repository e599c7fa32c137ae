package http

import (
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
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

// pageParams reads ?limit= (default vayva.DefaultPageLimit, 1 to
// vayva.MaxPageLimit) and ?cursor= of a list route; the route's store
// checks the cursor.
func pageParams(rc *fasthttp.RequestCtx) (limit int, cursor string, err error) {
	limit, err = queryInt(rc.QueryArgs(), "limit", vayva.DefaultPageLimit, vayva.MaxPageLimit)
	if err != nil {
		return 0, "", err
	}
	return limit, string(rc.QueryArgs().Peek("cursor")), nil
}

// queryInt reads the integer query parameter name, from 1 to most; def
// when it is absent. Anything else is a validation failure naming it.
func queryInt(args *fasthttp.Args, name string, def, most int) (int, error) {
	raw := args.Peek(name)
	if len(raw) == 0 && !args.Has(name) {
		return def, nil
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil || n < 1 || n > most {
		return 0, &vayva.Error{Code: vayva.EINVALID, Message: "The request has invalid fields.",
			Fields: []vayva.FieldError{{Field: name, Message: "must be an integer from 1 to " + strconv.Itoa(most)}}}
	}
	return n, nil
}

// timeLayout is the one timestamp format of every route: RFC 3339 in UTC
// with exactly three fractional digits (milliseconds), so clients parse
// and compare one shape, and times that actors keep in milliseconds and
// times PostgreSQL keeps in microseconds print alike.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// timeJSON formats a timestamp as the API does: RFC 3339, UTC,
// milliseconds (timeLayout; Format truncates, so a time never prints later
// than it was).
func timeJSON(t time.Time) string { return t.UTC().Format(timeLayout) }

// rfc3339 formats a time kept as Unix milliseconds (the actors' protobuf
// replies) as the API does (timeJSON).
func rfc3339(unixMs int64) string { return timeJSON(time.UnixMilli(unixMs)) }
