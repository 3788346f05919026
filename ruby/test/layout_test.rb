# frozen_string_literal: true

require_relative "test_helper"

# How the gem's code is laid out, so it stays that way: one module calls the
# library, no file reaches into another's private methods, no file grows
# into a god file again.
class LayoutTest < Minitest::Test
  LIB_FILES = Dir[File.join(RUBY_LIB, "**", "*.rb")].sort.freeze
  MAX_LINES = 400

  def sources
    LIB_FILES.to_h { |f| [f.delete_prefix("#{RUBY_LIB}/"), File.read(f)] }
  end

  def test_the_lib_has_its_files
    assert_operator LIB_FILES.size, :>=, 10, LIB_FILES.inspect
  end

  def test_only_native_rb_talks_to_the_library
    ffi = sources.select { |_, src| src.match?(/attach_function|ffi_lib|extend FFI::Library/) }.keys
    assert_equal ["ffitel/native.rb"], ffi
  end

  def test_no_send_to_private_methods
    offenders = sources.select { |_, src| src.match?(/\b__send__\b|\.send\(:/) }.keys
    assert_empty offenders
  end

  def test_no_file_over_the_limit
    long = sources.select { |_, src| src.lines.size > MAX_LINES }.transform_values { |src| src.lines.size }
    assert_empty long, "files over #{MAX_LINES} lines"
  end
end
