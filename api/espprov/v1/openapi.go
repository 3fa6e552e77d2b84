package espprovv1

import _ "embed"

// OpenAPI is the generated OpenAPI (Swagger 2.0) document of the REST gateway.
//
//go:embed espprov.swagger.json
var OpenAPI []byte
