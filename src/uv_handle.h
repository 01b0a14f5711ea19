// uv_handle.h — owns one libuv handle.
//
// A libuv handle may only be freed after uv_close() has called back, so
// UvHandle allocates the handle on the heap and, on destruction, hands it to
// uv_close with a callback that deletes it. The owner never sees a dangling
// handle and never frees one libuv still points to.
#pragma once

#include <uv.h>

#include <memory>

namespace byed {

template <typename T>
class UvHandle {
 public:
  UvHandle() : h_(new T{}) {}
  ~UvHandle() { reset(); }

  UvHandle(UvHandle&& other) noexcept : h_(other.h_), inited_(other.inited_) {
    other.h_ = nullptr;
    other.inited_ = false;
  }
  UvHandle& operator=(UvHandle&&) = delete;
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;

  T* get() const { return h_; }
  T* operator->() const { return h_; }
  uv_handle_t* handle() const { return reinterpret_cast<uv_handle_t*>(h_); }

  // Call after the uv_*_init that succeeded, so reset() knows to uv_close.
  void mark_initialized() { inited_ = true; }

  void reset() {
    if (h_ == nullptr) return;
    if (inited_) {
      uv_close(handle(),
               [](uv_handle_t* h) { delete reinterpret_cast<T*>(h); });
    } else {
      delete h_;
    }
    h_ = nullptr;
    inited_ = false;
  }

 private:
  T* h_;
  bool inited_ = false;
};

}  // namespace byed
