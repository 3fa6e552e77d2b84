package cli

import (
	"fmt"
	"os"
	"strings"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
)

// parseCustomData turns repeatable --custom-data ENDPOINT=VALUE flags into
// ProvisionRequest.custom_data. A VALUE starting with @ names a file whose
// bytes are sent as they are (binary allowed); @@ starts a literal @.
func parseCustomData(flags []string) (map[string][]byte, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := make(map[string][]byte, len(flags))
	for _, f := range flags {
		name, value, ok := strings.Cut(f, "=")
		switch {
		case !ok || name == "":
			return nil, usageErr("--custom-data %q: want ENDPOINT=VALUE (or ENDPOINT=@FILE), e.g. custom-data=hello", f)
		case out[name] != nil:
			return nil, usageErr("--custom-data: endpoint %q given twice", name)
		}
		var data []byte
		switch {
		case strings.HasPrefix(value, "@@"):
			data = []byte(value[1:])
		case strings.HasPrefix(value, "@"):
			b, err := os.ReadFile(value[1:])
			if err != nil {
				return nil, usageErr("--custom-data %s: cannot read %s: %v", name, value[1:], err)
			}
			data = b
		default:
			data = []byte(value)
		}
		if len(data) == 0 {
			return nil, usageErr("--custom-data %s: empty value (the device accepts 1 byte or more)", name)
		}
		out[name] = data
	}
	return out, nil
}

// customDataLine renders an application endpoint's reply like esp_prov's
// "CustomData response" line, quoted so that no byte can drive the terminal.
func customDataLine(cd *espprovv1.CustomDataReply) string {
	return fmt.Sprintf("++++ CustomData response from %s: %q ++++", cd.GetEndpoint(), cd.GetReply())
}
