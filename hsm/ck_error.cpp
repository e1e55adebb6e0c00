#include "hsm/ck_error.h"

#include <fmt/format.h>

#include <string>

namespace kmsd::hsm {

RvClass ClassifyRv(CK_RV rv) noexcept {
  switch (rv) {
    case CKR_OK: return RvClass::kOk;
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_USER_NOT_LOGGED_IN: return RvClass::kSession;
    // CKR_GENERAL_ERROR is what some modules answer once they have been
    // finalised underneath us; CKR_SLOT_ID_INVALID after they renumber slots.
    case CKR_DEVICE_REMOVED:
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_MEMORY:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_SLOT_ID_INVALID:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
    case CKR_GENERAL_ERROR: return RvClass::kDevice;
    case CKR_OBJECT_HANDLE_INVALID:
    case CKR_KEY_HANDLE_INVALID: return RvClass::kStaleObject;
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
    case CKR_PIN_EXPIRED:
    case CKR_PIN_LOCKED: return RvClass::kPinRefused;
    case CKR_ENCRYPTED_DATA_INVALID:
    case CKR_ENCRYPTED_DATA_LEN_RANGE:
    case CKR_SIGNATURE_INVALID: return RvClass::kIntegrity;
    default: return RvClass::kOther;
  }
}

ErrorCode MapRv(CK_RV rv) noexcept {
  switch (ClassifyRv(rv)) {
    case RvClass::kOk: return ErrorCode::kInternal;  // not an error; callers never ask
    case RvClass::kSession:
    case RvClass::kDevice: return ErrorCode::kHsmUnavailable;
    case RvClass::kStaleObject: return ErrorCode::kNotFound;
    case RvClass::kPinRefused: return ErrorCode::kUnauthenticated;
    case RvClass::kIntegrity: return ErrorCode::kIntegrity;
    case RvClass::kOther: break;
  }
  switch (rv) {
    case CKR_HOST_MEMORY:
    case CKR_SESSION_COUNT:
    case CKR_FUNCTION_CANCELED:
    case CKR_OPERATION_ACTIVE: return ErrorCode::kHsmUnavailable;
    case CKR_DATA_LEN_RANGE:
    case CKR_DATA_INVALID: return ErrorCode::kInvalidArgument;
    default: return ErrorCode::kInternal;
  }
}

std::string RvName(CK_RV rv) {
  switch (rv) {
#define KMSD_RV(name) \
  case name: return #name;
    KMSD_RV(CKR_OK)
    KMSD_RV(CKR_CANCEL)
    KMSD_RV(CKR_HOST_MEMORY)
    KMSD_RV(CKR_SLOT_ID_INVALID)
    KMSD_RV(CKR_GENERAL_ERROR)
    KMSD_RV(CKR_FUNCTION_FAILED)
    KMSD_RV(CKR_ARGUMENTS_BAD)
    KMSD_RV(CKR_ATTRIBUTE_READ_ONLY)
    KMSD_RV(CKR_ATTRIBUTE_SENSITIVE)
    KMSD_RV(CKR_ATTRIBUTE_TYPE_INVALID)
    KMSD_RV(CKR_ATTRIBUTE_VALUE_INVALID)
    KMSD_RV(CKR_DATA_INVALID)
    KMSD_RV(CKR_DATA_LEN_RANGE)
    KMSD_RV(CKR_DEVICE_ERROR)
    KMSD_RV(CKR_DEVICE_MEMORY)
    KMSD_RV(CKR_DEVICE_REMOVED)
    KMSD_RV(CKR_ENCRYPTED_DATA_INVALID)
    KMSD_RV(CKR_ENCRYPTED_DATA_LEN_RANGE)
    KMSD_RV(CKR_FUNCTION_CANCELED)
    KMSD_RV(CKR_FUNCTION_NOT_SUPPORTED)
    KMSD_RV(CKR_KEY_HANDLE_INVALID)
    KMSD_RV(CKR_KEY_SIZE_RANGE)
    KMSD_RV(CKR_KEY_TYPE_INCONSISTENT)
    KMSD_RV(CKR_KEY_FUNCTION_NOT_PERMITTED)
    KMSD_RV(CKR_MECHANISM_INVALID)
    KMSD_RV(CKR_MECHANISM_PARAM_INVALID)
    KMSD_RV(CKR_OBJECT_HANDLE_INVALID)
    KMSD_RV(CKR_OPERATION_ACTIVE)
    KMSD_RV(CKR_OPERATION_NOT_INITIALIZED)
    KMSD_RV(CKR_PIN_INCORRECT)
    KMSD_RV(CKR_PIN_INVALID)
    KMSD_RV(CKR_PIN_LEN_RANGE)
    KMSD_RV(CKR_PIN_EXPIRED)
    KMSD_RV(CKR_PIN_LOCKED)
    KMSD_RV(CKR_SESSION_CLOSED)
    KMSD_RV(CKR_SESSION_COUNT)
    KMSD_RV(CKR_SESSION_HANDLE_INVALID)
    KMSD_RV(CKR_SESSION_READ_ONLY)
    KMSD_RV(CKR_SIGNATURE_INVALID)
    KMSD_RV(CKR_SIGNATURE_LEN_RANGE)
    KMSD_RV(CKR_TEMPLATE_INCOMPLETE)
    KMSD_RV(CKR_TEMPLATE_INCONSISTENT)
    KMSD_RV(CKR_TOKEN_NOT_PRESENT)
    KMSD_RV(CKR_TOKEN_NOT_RECOGNIZED)
    KMSD_RV(CKR_TOKEN_WRITE_PROTECTED)
    KMSD_RV(CKR_USER_ALREADY_LOGGED_IN)
    KMSD_RV(CKR_USER_NOT_LOGGED_IN)
    KMSD_RV(CKR_USER_PIN_NOT_INITIALIZED)
    KMSD_RV(CKR_USER_TYPE_INVALID)
    KMSD_RV(CKR_BUFFER_TOO_SMALL)
    KMSD_RV(CKR_RANDOM_NO_RNG)
    KMSD_RV(CKR_CRYPTOKI_NOT_INITIALIZED)
    KMSD_RV(CKR_CRYPTOKI_ALREADY_INITIALIZED)
#undef KMSD_RV
    default: return fmt::format("CKR_0x{:x}", rv);
  }
}

Error RvError(CK_RV rv, std::string_view call) {
  return MakeError(MapRv(rv), fmt::format("{} failed: {}", call, RvName(rv)));
}

}  // namespace kmsd::hsm
