// Package phone normalises phone numbers to E.164 with libphonenumber's
// rules (github.com/nyaruka/phonenumbers), so that a number a customer
// typed at checkout ("0803 123 4567", "+234-803-123-4567") and the
// WhatsApp id Meta reports ("2348031234567") compare equal.
package phone

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// DefaultRegion is the region assumed for numbers written without a
// country code when the store's is unknown.
const DefaultRegion = "NG"

// E164Digits returns raw in E.164 without the leading "+" (the form of a
// WhatsApp id), reading numbers without a country code as numbers of
// region (ISO 3166 alpha-2, e.g. "NG"). It reports false for what cannot
// be a phone number.
func E164Digits(raw, region string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > 64 {
		return "", false
	}
	if region == "" {
		region = DefaultRegion
	}
	if strings.HasPrefix(raw, "00") {
		raw = "+" + raw[2:]
	}
	n, err := phonenumbers.Parse(raw, strings.ToUpper(region))
	if err != nil {
		return "", false
	}
	out := strings.TrimPrefix(phonenumbers.Format(n, phonenumbers.E164), "+")
	if len(out) < 5 || len(out) > 15 {
		return "", false
	}
	for i := 0; i < len(out); i++ {
		if out[i] < '0' || out[i] > '9' {
			return "", false
		}
	}
	return out, true
}

// WhatsAppID returns a WhatsApp id, which is already E.164 digits, in the
// same form: digits only, without "+".
func WhatsAppID(waID string) (string, bool) {
	return E164Digits("+"+strings.TrimPrefix(strings.TrimSpace(waID), "+"), DefaultRegion)
}
