// CK_RV → kmsd::ErrorCode, and the recovery class of each return value.
//
// Every CK_RV is translated here; nothing outside hsm/ sees one. Error
// messages carry the PKCS#11 function name and the symbolic CK_RV name only.
#pragma once

#include <string_view>

#include "common/result.h"
#include "hsm/pkcs11.h"

namespace kmsd::hsm {

// What the pool does about a failed call.
enum class RvClass {
  kOk,
  kSession,      // the session is unusable: reopen, log in, retry once
  kDevice,       // module/token unusable: re-initialise with backoff
  kStaleObject,  // an object handle went stale: find it again by label, retry once
  kPinRefused,   // C_Login refused the PIN: report once, never retry
  kIntegrity,    // authenticated decryption failed
  kOther,        // a request-level failure: report, no recovery
};

RvClass ClassifyRv(CK_RV rv) noexcept;

// The project error code of a failed call (rv != CKR_OK).
ErrorCode MapRv(CK_RV rv) noexcept;

// "CKR_PIN_INCORRECT", or "CKR_0x..." for values without a name.
std::string RvName(CK_RV rv);

// Error{MapRv(rv), "<call> failed: <RvName(rv)>"}.
Error RvError(CK_RV rv, std::string_view call);

}  // namespace kmsd::hsm
