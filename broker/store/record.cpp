#include "broker/store/record.h"

namespace kmsd::store {

std::string_view RecordStateName(RecordState state) noexcept {
  switch (state) {
    case RecordState::kActive: return "active";
    case RecordState::kDestroyed: return "destroyed";
  }
  return "destroyed";
}

std::string_view KekStateName(KekState state) noexcept {
  switch (state) {
    case KekState::kCurrent: return "current";
    case KekState::kActive: return "active";
    case KekState::kRetired: return "retired";
    case KekState::kDestroyed: return "destroyed";
  }
  return "destroyed";
}

std::optional<RecordState> ParseRecordState(std::string_view name) noexcept {
  if (name == "active") return RecordState::kActive;
  if (name == "destroyed") return RecordState::kDestroyed;
  return std::nullopt;
}

std::optional<KekState> ParseKekState(std::string_view name) noexcept {
  if (name == "current") return KekState::kCurrent;
  if (name == "active") return KekState::kActive;
  if (name == "retired") return KekState::kRetired;
  if (name == "destroyed") return KekState::kDestroyed;
  return std::nullopt;
}

}  // namespace kmsd::store
