package safetext_test

import (
	"fmt"

	"github.com/replaudit/replaudit/internal/safetext"
)

func Example() {
	key := "invoice-\u202Efdp.exe" // reads as "invoice-exe.pdf" when printed raw

	fmt.Println(safetext.Line(key))
	fmt.Println(safetext.ASCII("[CRITICAL] FAILED s3://acme-data/"+key, 40))
	js, _ := safetext.MarshalJSON(map[string]string{"key": key})
	fmt.Println(string(js))
	// Output:
	// invoice-\u202efdp.exe
	// [CRITICAL] FAILED s3://acme-data/invo...
	// {"key":"invoice-\u202efdp.exe"}
}
