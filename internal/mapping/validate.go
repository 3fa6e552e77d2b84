package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// ValidateTags checks that every tag has the key:value form with a
// non-empty key and value (D13: validated before contacting the device,
// with the message of the CLI's node add-tags).
func ValidateTags(tags []string) error {
	for _, t := range tags {
		k, v, ok := strings.Cut(t, ":")
		if !ok || strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
			return fmt.Errorf("%w: invalid tag format '%s'. Tags must be in key:value format", ErrInvalidTag, t)
		}
	}
	return nil
}

// ParseTags splits a comma-separated tag list like the CLI's --tags (pieces
// trimmed, empty pieces dropped) and validates it.
func ParseTags(s string) ([]string, error) {
	var tags []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			tags = append(tags, p)
		}
	}
	if err := ValidateTags(tags); err != nil {
		return nil, err
	}
	return tags, nil
}

// ParseMetadata parses metadata given as JSON text. It must be a JSON object
// (anything else is ErrInvalidMetadata); "" or only whitespace means none
// (nil). Numbers are kept exactly (json.Number).
func ParseMetadata(s string) (map[string]any, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: not valid JSON: %v", ErrInvalidMetadata, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidMetadata)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: must be a JSON object, got %s", ErrInvalidMetadata, jsonKind(v))
	}
	return m, nil
}

// ValidateMetadata checks that m can be sent as JSON (e.g. converted from a
// protobuf Struct). A nil or empty map means none.
func ValidateMetadata(m map[string]any) error {
	if len(m) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(m); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidMetadata, err)
	}
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}
