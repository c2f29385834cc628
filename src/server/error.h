// ApiError: an error as the HTTP API reports it, and the one table that maps a
// StatusCode to an HTTP status and an OpenAI error type.
//
// The body is OpenAI's shape:
//   {"error": {"message": "...", "type": "invalid_request_error",
//              "param": "max_tokens", "code": null}}
// `param` names the request field at fault (null when none); `code` is OpenAI's
// machine-readable code ("invalid_api_key", "model_not_found"), null when none.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace radixlm::server {

struct ErrorClass {
  int http_status = 500;
  std::string_view type;  // OpenAI's error type
};

// The table (gRPC's canonical HTTP mapping, with OpenAI's type names):
//   INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE  400 invalid_request_error
//   UNAUTHENTICATED                                      401 authentication_error
//   PERMISSION_DENIED                                    403 permission_error
//   NOT_FOUND                                            404 invalid_request_error
//   ALREADY_EXISTS                                       409 invalid_request_error
//   RESOURCE_EXHAUSTED                                   429 rate_limit_error
//   CANCELLED                                            499 cancelled_error
//   UNIMPLEMENTED                                        501 not_implemented_error
//   UNAVAILABLE                                          503 service_unavailable_error
//   DEADLINE_EXCEEDED                                    504 timeout_error
//   INTERNAL, DATA_LOSS (and OK, which is never an error) 500 server_error
ErrorClass ClassifyStatus(StatusCode code);

struct ApiError {
  int http_status = 500;
  std::string type = "server_error";
  std::string message;
  std::string param;  // "" prints null
  std::string code;   // "" prints null

  // Through the table.
  static ApiError FromStatus(const Status& status, std::string param = "", std::string code = "");
  // Errors of the HTTP layer itself (404 route, 405, 413): type invalid_request_error.
  static ApiError Http(int http_status, std::string message);

  std::string Body() const;
};

}  // namespace radixlm::server
