package httpapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Every 4xx with field errors shows the bad value, except where there is
// none to show (required, forbidden, internal) or it is too long to echo.
func TestDetailsShowTheValueWhereThereIsOne(t *testing.T) {
	p := field.NewPath("spec")
	errs := field.ErrorList{
		field.Invalid(p.Child("shards"), 0, "must be at least 1"),
		field.Required(p.Child("image"), ""),
		field.Forbidden(p.Child("tls"), "not allowed"),
		field.TooLong(p.Child("reason"), strings.Repeat("x", 5000), 1024),
		field.InternalError(p.Child("plan"), errors.New("boom")),
	}
	for _, conflict := range []bool{false, true} {
		err := rejection(errs, conflict, "body.")
		var model *huma.ErrorModel
		if !errors.As(err, &model) || len(model.Errors) != len(errs) {
			t.Fatalf("rejection = %#v", err)
		}
		for i, d := range model.Errors {
			if want := i == 0; (d.Value != nil) != want {
				t.Errorf("conflict %v: %s: value %v, want shown: %v", conflict, d.Location, d.Value, want)
			}
		}
		if model.Errors[0].Location != "body.spec.shards" {
			t.Errorf("location %q", model.Errors[0].Location)
		}
	}
}
