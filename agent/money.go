package agent

import (
	"regexp"
	"strconv"
	"strings"
)

// currencySymbols are how customers write the currencies stores sell in.
var currencySymbols = map[string]string{
	"NGN": "₦", "GHS": "GH₵", "KES": "KSh ", "ZAR": "R", "USD": "$",
}

// FormatMoney formats minor units of a two-decimal currency the way
// customers read prices: FormatMoney(1500000, "NGN") = "₦15,000",
// FormatMoney(1500050, "NGN") = "₦15,000.50".
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
	sym, ok := currencySymbols[currency]
	if !ok {
		sym = currency + " "
	}
	b.WriteString(sym)
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if cents != 0 {
		b.WriteString("." + strconv.FormatUint(cents/10, 10) + strconv.FormatUint(cents%10, 10))
	}
	return b.String()
}

// priceMention finds amounts written with a currency sign or code, as a
// model might write them: "₦15,000", "NGN 15000.00", "$12.50".
var priceMention = regexp.MustCompile(`(?i)(₦|GH₵|KSh|NGN|GHS|KES|ZAR|USD|N|R|\$)\s?([0-9][0-9,]*(?:\.[0-9]{1,2})?)`)

// mentionedAmounts returns the amounts (minor units) text mentions with a
// currency, and whether every one could be read.
func mentionedAmounts(text string) ([]int64, bool) {
	var out []int64
	for _, m := range priceMention.FindAllStringSubmatch(text, -1) {
		if strings.EqualFold(m[1], "N") || strings.EqualFold(m[1], "R") {
			// Single letters count only directly before the digits.
			if !strings.Contains(text, m[1]+m[2]) {
				continue
			}
		}
		num := strings.ReplaceAll(m[2], ",", "")
		whole, frac, _ := strings.Cut(num, ".")
		w, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || w > 1e13 {
			return nil, false
		}
		cents := int64(0)
		if frac != "" {
			if len(frac) == 1 {
				frac += "0"
			}
			c, err := strconv.ParseInt(frac, 10, 64)
			if err != nil {
				return nil, false
			}
			cents = c
		}
		out = append(out, w*100+cents)
	}
	return out, true
}
