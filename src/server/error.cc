#include "server/error.h"

#include "core/json_writer.h"

namespace radixlm::server {

ErrorClass ClassifyStatus(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kOutOfRange:
      return {400, "invalid_request_error"};
    case StatusCode::kUnauthenticated:
      return {401, "authentication_error"};
    case StatusCode::kPermissionDenied:
      return {403, "permission_error"};
    case StatusCode::kNotFound:
      return {404, "invalid_request_error"};
    case StatusCode::kAlreadyExists:
      return {409, "invalid_request_error"};
    case StatusCode::kResourceExhausted:
      return {429, "rate_limit_error"};
    case StatusCode::kCancelled:
      return {499, "cancelled_error"};
    case StatusCode::kUnimplemented:
      return {501, "not_implemented_error"};
    case StatusCode::kUnavailable:
      return {503, "service_unavailable_error"};
    case StatusCode::kDeadlineExceeded:
      return {504, "timeout_error"};
    case StatusCode::kOk:
    case StatusCode::kDataLoss:
    case StatusCode::kInternal:
      return {500, "server_error"};
  }
  return {500, "server_error"};
}

ApiError ApiError::FromStatus(const Status& status, std::string param, std::string code) {
  const ErrorClass c = ClassifyStatus(status.code());
  ApiError e;
  e.http_status = c.http_status;
  e.type = std::string(c.type);
  e.message =
      status.message().empty() ? std::string(StatusCodeName(status.code())) : status.message();
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

ApiError ApiError::Http(int http_status, std::string message) {
  ApiError e;
  e.http_status = http_status;
  e.type = http_status >= 500 ? "server_error" : "invalid_request_error";
  e.message = std::move(message);
  return e;
}

std::string ApiError::Body() const {
  JsonWriter w;
  w.BeginObject();
  w.Key("error");
  w.BeginObject();
  w.Key("message");
  w.String(message);
  w.Key("type");
  w.String(type);
  w.Key("param");
  if (param.empty()) {
    w.Null();
  } else {
    w.String(param);
  }
  w.Key("code");
  if (code.empty()) {
    w.Null();
  } else {
    w.String(code);
  }
  w.EndObject();
  w.EndObject();
  return w.str();
}

}  // namespace radixlm::server
