// Errors octet reports to its users: one clear line naming the file, tensor or node at fault.
#pragma once
#include <stdexcept>
#include <string>

namespace octet {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown when a model uses an op, attribute value or dtype octet does not implement.
class UnsupportedError : public Error {
 public:
  using Error::Error;
};

}  // namespace octet
