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
  uv_handle_t* handle() const { return reinterpret_cast<uv_handle_t*>(h_); }

  // Initializes the handle with init_fn(loop, handle, args...) — uv_poll_init,
  // uv_timer_init, ... — and sets its data pointer. Only a handle whose init
  // succeeded is later uv_close()d; one whose init failed is simply freed.
  // Returns libuv's status.
  template <typename InitFn, typename... Args>
  int init(InitFn init_fn, uv_loop_t* loop, void* data, Args... args) {
    if (h_ == nullptr) h_ = new T{};
    int rc = init_fn(loop, h_, args...);
    if (rc == 0) {
      inited_ = true;
      h_->data = data;
    }
    return rc;
  }

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
