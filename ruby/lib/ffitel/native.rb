# frozen_string_literal: true

require "ffi"
require "json"

module Ffitel
  # The C ABI of libffitel.so (cshim/include/ffitel.h), attached once.
  # Loaded by Ffitel.load_library, never by `require "ffitel"`.
  #
  # Strings go in as :pointer + explicit byte length: ruby-ffi passes a
  # String's bytes to a :pointer argument without copying or checking for
  # NUL, and the library never retains them.
  module Native
    extend FFI::Library

    OK = 0
    E_INVALID = -1
    E_STATE = -2
    E_FORKED = -3
    E_HANDLE = -4
    E_FULL = -5
    E_INTERNAL = -6
    E_UNAVAILABLE = -7
    RB_USE_JSON = 1 # FFITEL_RB_USE_JSON: Ffitel::NativeLog.log declined; use ffitel_log

    # Blocks +signals+ in the calling thread while the Go runtime starts, so
    # the threads Go creates inherit a mask that keeps them out of signal
    # delivery: SIGINT/SIGTERM then always land on a Ruby thread. See
    # Ffitel.load_library.
    module LibC
      extend FFI::Library
      ffi_lib FFI::Library::LIBC
      SIG_BLOCK = 0
      SIG_SETMASK = 2
      SIGSET_BYTES = 128
      attach_function :sigemptyset, [:pointer], :int
      attach_function :sigaddset, [:pointer, :int], :int
      attach_function :pthread_sigmask, [:int, :pointer, :pointer], :int
    end

    # Adds SA_ONSTACK to the handler Ruby installed for +signo+. Go requires
    # it of every non-Go handler: without it a signal that lands on a thread
    # running Go code runs Ruby's handler on a small goroutine stack and
    # corrupts it (measured: "traceback did not unwind completely", SIGSEGV).
    # With it the handler runs on the thread's alternate signal stack, which
    # Ruby and Go set up for every thread. ffitel_signal_onstack does it in C,
    # without entering Go and without Ruby knowing struct sigaction's layout.
    def self.handler_on_altstack(signo)
      ffitel_signal_onstack(signo)
    end

    def self.with_signals_blocked(names)
      set = FFI::MemoryPointer.new(LibC::SIGSET_BYTES)
      old = FFI::MemoryPointer.new(LibC::SIGSET_BYTES)
      LibC.sigemptyset(set)
      names.each do |name|
        num = Signal.list[name]
        LibC.sigaddset(set, num) if num
      end
      blocked = LibC.pthread_sigmask(LibC::SIG_BLOCK, set, old).zero?
      begin
        yield
      ensure
        LibC.pthread_sigmask(LibC::SIG_SETMASK, old, nil) if blocked
      end
    end

    def self.load(path)
      ffi_lib path

      attach_function :ffitel_version, [], :string
      attach_function :ffitel_init_console, [], :int
      attach_function :ffitel_init_telemetry, [], :int
      attach_function :ffitel_shutdown, [:int32], :int, blocking: true
      attach_function :ffitel_flush, [:int32], :int, blocking: true
      attach_function :ffitel_rb_define, [], :int
      attach_function :ffitel_phase, [], :int
      attach_function :ffitel_last_error, [:pointer, :size_t], :int
      attach_function :ffitel_signal_onstack, [:int32], :int

      attach_function :ffitel_log, [:int32, :pointer, :size_t, :pointer, :size_t, :uint64], :int
      attach_function :ffitel_log_enabled, [:int32], :int

      attach_function :ffitel_span_start,
                      [:pointer, :size_t, :uint64, :pointer, :size_t, :pointer, :size_t, :int32], :uint64
      attach_function :ffitel_span_set_attributes, [:uint64, :pointer, :size_t], :int
      attach_function :ffitel_span_add_event, [:uint64, :pointer, :size_t, :pointer, :size_t], :int
      attach_function :ffitel_span_end, [:uint64, :int32, :pointer, :size_t], :int
      attach_function :ffitel_span_traceparent, [:uint64, :pointer, :size_t], :int
      attach_function :ffitel_span_inject, [:uint64, :pointer, :size_t], :int

      # Tasks: a CONSUMER span per attempt plus the messaging metrics.
      attach_function :ffitel_task_start,
                      [:pointer, :size_t, :pointer, :size_t, :pointer, :size_t, :int32,
                       :pointer, :size_t, :pointer, :size_t, :int32], :uint64
      # ffitel_task_start with the host's current span handle (0 for none),
      # linked to the task span when the carrier gives it a remote parent.
      attach_function :ffitel_task_start_in,
                      [:uint64, :pointer, :size_t, :pointer, :size_t, :pointer, :size_t, :int32,
                       :pointer, :size_t, :pointer, :size_t, :int32], :uint64
      attach_function :ffitel_task_end, [:uint64, :int32, :pointer, :size_t], :int

      attach_function :ffitel_counter_add, [:pointer, :size_t, :double, :pointer, :size_t], :int
      attach_function :ffitel_histogram_record,
                      [:pointer, :size_t, :double, :pointer, :size_t, :pointer, :size_t], :int

      # Domain events. Publishing to a durable sink may wait on the network:
      # released from the GVL too.
      attach_function :ffitel_event_publish,
                      [:pointer, :size_t, :pointer, :size_t, :pointer, :size_t, :int32, :pointer, :size_t],
                      :int, blocking: true
      attach_function :ffitel_event_publish_in,
                      [:uint64, :pointer, :size_t, :pointer, :size_t, :pointer, :size_t, :int32, :pointer, :size_t],
                      :int, blocking: true
      attach_function :ffitel_event_subscribe, [:pointer, :size_t], :uint64
      # Waits up to timeout_ms: released from the GVL.
      attach_function :ffitel_event_poll, [:uint64, :int32, :pointer, :size_t], :int, blocking: true
      attach_function :ffitel_event_unsubscribe, [:uint64], :int

      attach_function :ffitel_stats_json, [:pointer, :size_t], :int
    end

    # The calling thread's last error message.
    def self.last_error
      buf = FFI::MemoryPointer.new(1024)
      n = ffitel_last_error(buf, 1024)
      return "" if n <= 0

      if n >= 1024
        buf = FFI::MemoryPointer.new(n + 1)
        n = ffitel_last_error(buf, n + 1)
      end
      buf.read_bytes(n).force_encoding(Encoding::UTF_8)
    end

    # Calls a function following the buffer convention (returns the length it
    # needed) and returns the output as a String, or the negative code.
    def self.read_buffer(initial = 256)
      cap = initial
      2.times do
        buf = FFI::MemoryPointer.new(cap)
        n = yield(buf, cap)
        return n if n.negative?
        return buf.read_bytes(n).force_encoding(Encoding::UTF_8) if n < cap

        cap = n + 1
      end
      E_INTERNAL
    end
  end
end
