package store

import (
	"context"

	"gorm.io/gorm"
)

// BusinessDetails are who stands behind an organization: a sole trader or
// a business, its legal name, jurisdiction and registration number. Nil
// means not given.
type BusinessDetails struct {
	BusinessType               *string
	BusinessName               *string
	BusinessJurisdiction       *string
	BusinessRegistrationNumber *string
}

// Business types.
const (
	BusinessSole     = "sole"
	BusinessBusiness = "business"
)

// Field is one field of a partial update: Set says it was sent, and a nil
// Value then clears it.
type Field struct {
	Set   bool
	Value *string
}

// BusinessDetailsChange is a partial update of the business details.
type BusinessDetailsChange struct {
	Type, Name, Jurisdiction, RegistrationNumber Field
}

// BusinessDetailsError is a business detail the store refuses; Field is
// the detail's name as upstream's messages spell it (businessName, ...).
type BusinessDetailsError struct{ Field string }

func (e *BusinessDetailsError) Error() string { return "store: invalid business detail " + e.Field }

// businessText is one free-text business detail and its rules.
type businessText struct {
	column, field string // snake_case column, camelCase name
	max           int    // JavaScript length, checked before trimming as upstream's schema does
}

var (
	businessNameRule         = businessText{"business_name", "businessName", 200}
	businessJurisdictionRule = businessText{"business_jurisdiction", "businessJurisdiction", 120}
	businessRegistrationRule = businessText{"business_registration_number", "businessRegistrationNumber", 100}
)

// clean normalises a sent value: nil or blank after trimming clears it;
// too long or holding a C0 control character is refused.
func (r businessText) clean(v *string) (*string, error) {
	if v == nil {
		return nil, nil
	}
	if utf16Len(*v) > r.max {
		return nil, &BusinessDetailsError{r.field}
	}
	t := jsTrim(*v)
	if t == "" {
		return nil, nil
	}
	if hasC0Control(t) {
		return nil, &BusinessDetailsError{r.field}
	}
	return &t, nil
}

// UpdateBusinessDetails changes the sent business details of the active
// organization (owners only) and returns all four as stored. Checks, in
// upstream's order: a selected organization, not frozen (also for a
// non-member), an owner, valid values, at least one field.
func (s *Store) UpdateBusinessDetails(ctx context.Context, a Actor, ch BusinessDetailsChange) (BusinessDetails, error) {
	var out BusinessDetails
	err := s.tx(ctx, func(tx *gorm.DB) error {
		sc, err := lockAdminScope(tx, a, "business_type", "business_name", "business_jurisdiction", "business_registration_number")
		if err != nil {
			return err
		}
		if err := sc.frozenThenRole(isOwner); err != nil {
			return err
		}
		set := map[string]any{}
		var fields []string
		if ch.Type.Set {
			if v := ch.Type.Value; v != nil && *v != BusinessSole && *v != BusinessBusiness {
				return &BusinessDetailsError{"businessType"}
			}
			set["business_type"], fields = ch.Type.Value, append(fields, "business_type")
			sc.org.BusinessType = ch.Type.Value
		}
		for _, f := range []struct {
			rule businessText
			in   Field
			dst  **string
		}{
			{businessNameRule, ch.Name, &sc.org.BusinessName},
			{businessJurisdictionRule, ch.Jurisdiction, &sc.org.BusinessJurisdiction},
			{businessRegistrationRule, ch.RegistrationNumber, &sc.org.BusinessRegistrationNumber},
		} {
			if !f.in.Set {
				continue
			}
			v, err := f.rule.clean(f.in.Value)
			if err != nil {
				return err
			}
			set[f.rule.column], fields = v, append(fields, f.rule.column)
			*f.dst = v
		}
		if len(set) == 0 {
			return invalid("send at least one of business_type, business_name, business_jurisdiction or business_registration_number.")
		}
		res := tx.Model(&Organization{}).Where("id = ?", sc.org.ID).Updates(set)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrOrganizationNotFound // unreachable under the lock
		}
		out = sc.org.BusinessDetails
		return s.audit(tx, sc.org.ID, &a.UserID, EventBusinessDetailsUpdated, "organization", sc.org.ID.String(),
			Metadata{"updated_fields": fields})
	})
	return out, err
}
