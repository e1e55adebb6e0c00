#include "hsm/token_init.h"

#include <cstring>
#include <vector>

#include "hsm/ck_error.h"

namespace kmsd::hsm {

Status InitializeToken(Module& module, std::string_view label, const Secret& so_pin,
                       const Secret& user_pin) {
  if (label.empty() || label.size() > 32) {
    return MakeError(ErrorCode::kInvalidArgument, "token label must be 1..32 bytes");
  }
  if (so_pin.empty() || user_pin.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "token PINs must not be empty");
  }
  auto ticket = module.Enter();
  if (!ticket) return ticket.error();
  CK_FUNCTION_LIST* fn = ticket->fn();

  CK_ULONG count = 0;
  if (CK_RV rv = fn->C_GetSlotList(CK_TRUE, nullptr, &count); rv != CKR_OK) {
    return RvError(rv, "C_GetSlotList");
  }
  std::vector<CK_SLOT_ID> slots(count);
  if (CK_RV rv = fn->C_GetSlotList(CK_TRUE, slots.data(), &count); rv != CKR_OK) {
    return RvError(rv, "C_GetSlotList");
  }
  slots.resize(count);
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info{};
    if (fn->C_GetTokenInfo(slot, &info) != CKR_OK || (info.flags & CKF_TOKEN_INITIALIZED)) {
      continue;
    }
    CK_UTF8CHAR padded[32];
    std::memset(padded, ' ', sizeof(padded));
    std::memcpy(padded, label.data(), label.size());
    auto so = so_pin.expose();
    if (CK_RV rv = fn->C_InitToken(slot, const_cast<CK_UTF8CHAR*>(so.data()), so.size(), padded);
        rv != CKR_OK) {
      return RvError(rv, "C_InitToken");
    }
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    if (CK_RV rv = fn->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                                     &session);
        rv != CKR_OK) {
      return RvError(rv, "C_OpenSession");
    }
    CK_RV rv = fn->C_Login(session, CKU_SO, const_cast<CK_UTF8CHAR*>(so.data()), so.size());
    if (rv == CKR_OK) {
      auto user = user_pin.expose();
      rv = fn->C_InitPIN(session, const_cast<CK_UTF8CHAR*>(user.data()), user.size());
    }
    // Closing the only session on the fresh token ends the SO login; no
    // C_Logout (it is token-wide).
    fn->C_CloseSession(session);
    if (rv != CKR_OK) return RvError(rv, "C_InitPIN");
    return {};
  }
  return MakeError(ErrorCode::kNotFound, "no uninitialised token slot");
}

}  // namespace kmsd::hsm
