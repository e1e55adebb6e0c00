#include "policy/policy.h"

namespace kmsd::policy {

std::string_view EffectName(Effect effect) noexcept {
  return effect == Effect::kAllow ? "allow" : "deny";
}

std::string_view OperationName(Operation operation) noexcept {
  return operation == Operation::kEncrypt ? "encrypt" : "decrypt";
}

std::string_view ConditionName(Condition condition) noexcept {
  switch (condition) {
    case Condition::kNone: return "none";
    case Condition::kOperations: return "operations";
    case Condition::kAssetTypes: return "asset_types";
    case Condition::kAssetIds: return "asset_ids";
    case Condition::kPrincipals: return "principals";
    case Condition::kRoles: return "roles";
    case Condition::kCreatedBetween: return "created_between";
    case Condition::kCreatedOlderThan: return "created_older_than";
    case Condition::kCreatedNewerThan: return "created_newer_than";
    case Condition::kNotBefore: return "not_before";
    case Condition::kNotAfter: return "not_after";
    case Condition::kWithinWindows: return "within_windows";
    case Condition::kOutsideWindows: return "outside_windows";
  }
  return "none";
}

namespace {

struct ProblemText {
  std::string_view name;
  std::string_view message;
};

ProblemText Text(ProblemCode code) noexcept {
  switch (code) {
    case ProblemCode::kMalformedJson: return {"malformed_json", "not well-formed JSON"};
    case ProblemCode::kDuplicateKey: return {"duplicate_key", "a key appears twice in one object"};
    case ProblemCode::kNotAnObject: return {"not_an_object", "must be a JSON object"};
    case ProblemCode::kUnknownField:
      return {"unknown_field", "the object has a field the policy format does not define"};
    case ProblemCode::kMissingField: return {"missing_field", "required field is missing"};
    case ProblemCode::kWrongType: return {"wrong_type", "wrong JSON type"};
    case ProblemCode::kEmptyList: return {"empty_list", "list must not be empty"};
    case ProblemCode::kTooMany: return {"too_many", "list is longer than 1000 elements"};
    case ProblemCode::kDuplicateValue: return {"duplicate_value", "value repeats in the list"};
    case ProblemCode::kInvalidEffect: return {"invalid_effect", "must be \"allow\" or \"deny\""};
    case ProblemCode::kInvalidOperation:
      return {"invalid_operation", "must be \"encrypt\" or \"decrypt\""};
    case ProblemCode::kInvalidRuleId:
      return {"invalid_rule_id", "must match [a-z0-9_.-]{1,64} and not be \"default\""};
    case ProblemCode::kDuplicateRuleId:
      return {"duplicate_rule_id", "an earlier rule has the same id"};
    case ProblemCode::kInvalidAssetType:
      return {"invalid_asset_type", "must match [a-z0-9_.-]{1,64}"};
    case ProblemCode::kInvalidAssetId:
      return {"invalid_asset_id",
              "must be 1-256 visible ASCII characters, '*' only as the last one"};
    case ProblemCode::kInvalidAssetIdValue:
      // Same code as for patterns: a client tells the field apart by its path.
      return {"invalid_asset_id", "must be 1-256 visible ASCII characters, no '*'"};
    case ProblemCode::kInvalidPrincipal:
      return {"invalid_principal", "must be 1-256 visible ASCII characters"};
    case ProblemCode::kInvalidRole:
      return {"invalid_role", "must be \"encrypt\", \"decrypt\" or \"admin\""};
    case ProblemCode::kInvalidInstant: return {"invalid_instant", "must be an RFC 3339 date-time"};
    case ProblemCode::kEmptyInterval: return {"empty_interval", "start must be before end"};
    case ProblemCode::kMissingBound: return {"missing_bound", "needs a start, an end or both"};
    case ProblemCode::kInvalidDuration:
      return {"invalid_duration", "must be a positive duration PnDTnHnMnS of at most 1000 years"};
    case ProblemCode::kUnsupportedDurationUnit:
      return {"unsupported_duration_unit",
              "years, months and weeks are not allowed; use days (P90D)"};
    case ProblemCode::kInvalidDay:
      return {"invalid_day", "must be one of mon, tue, wed, thu, fri, sat, sun"};
    case ProblemCode::kInvalidTimeOfDay:
      return {"invalid_time_of_day", "must be HH:MM from 00:00 to 23:59 (end may be 24:00)"};
    case ProblemCode::kEmptyWindow: return {"empty_window", "start and end must differ"};
    case ProblemCode::kUnknownTimeZone:
      return {"unknown_time_zone", "not an IANA time zone known to this system"};
    case ProblemCode::kInvalidVersion: return {"invalid_version", "must be a non-negative integer"};
  }
  return {"malformed_json", "not well-formed JSON"};
}

}  // namespace

std::string_view ProblemCodeName(ProblemCode code) noexcept { return Text(code).name; }
std::string_view ProblemMessage(ProblemCode code) noexcept { return Text(code).message; }

}  // namespace kmsd::policy
