package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
)

// CountLogBodies counts the log records whose body is the string body,
// without decoding the whole file: for bursts of hundreds of thousands.
func (c *Collector) CountLogBodies(body string) int {
	data, err := os.ReadFile(filepath.Join(c.Dir, "logs.jsonl"))
	if err != nil {
		return 0
	}
	v, _ := json.Marshal(body)
	return bytes.Count(data, []byte(`"body":{"stringValue":`+string(v)+`}`))
}
