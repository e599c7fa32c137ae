package vayva

import (
	"strconv"
	"strings"
)

// FormatMoney formats amount minor units of a two-decimal currency for
// people, e.g. FormatMoney(250000, "NGN") = "NGN 2,500.00". An empty
// currency leaves the code out.
func FormatMoney(amount int64, currency string) string {
	neg := amount < 0
	u := uint64(amount)
	if neg {
		u = -u
	}
	whole, cents := u/100, u%100
	digits := strconv.FormatUint(whole, 10)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	b.WriteByte('.')
	if cents < 10 {
		b.WriteByte('0')
	}
	b.WriteString(strconv.FormatUint(cents, 10))
	if currency = strings.TrimSpace(currency); currency != "" {
		return currency + " " + b.String()
	}
	return b.String()
}
