// Command espprov provisions ESP32 devices running ESP-IDF protocomm. Its
// provision command accepts the command line of `esp-rainmaker-cli
// provision`. Run `espprov --help` for the commands and exit codes.
package main

import (
	"os"

	"github.com/espprov/espprov/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
}
