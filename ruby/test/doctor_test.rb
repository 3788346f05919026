# frozen_string_literal: true

require_relative "test_helper"

# The ABI check when the library loads, and the `ffitel doctor` executable,
# in real processes.
class DoctorTest < Minitest::Test
  include FfitelTestHelpers

  FAKE_LIB_C = <<~C
    const char *ffitel_version(void) { return "9.9.9"; }
    int ffitel_abi_version(void) { return 999; }
  C

  # A shared library that exports ffitel_version and ffitel_abi_version
  # (returning 999) and nothing else.
  def fake_library
    dir = Dir.mktmpdir("ffitel-fake", TEST_TMP)
    File.write(File.join(dir, "fake.c"), FAKE_LIB_C)
    out = File.join(dir, "libffitel.so")
    assert system("cc", "-shared", "-fPIC", "-o", out, File.join(dir, "fake.c")), "cc failed"
    out
  end

  def test_a_library_of_another_abi_version_is_refused_with_one_clear_error
    fake = fake_library
    out, err, status = run_ruby(<<~RUBY, env: { "FFITEL_LIBRARY" => fake })
      require "ffitel"
      begin
        Ffitel.init_console
      rescue Ffitel::Error => e
        puts "Error: \#{e.message}"
      end
      Ffitel.info("still logs")
    RUBY
    assert_success(out, err, status)
    errors = out.lines.grep(/\AError:/)
    assert_equal 1, errors.size, out
    msg = errors.first
    assert_includes msg, fake
    assert_includes msg, "ABI version 999"
    assert_includes msg, "needs ABI version 1"
    assert_includes msg, "9.9.9"
    assert_includes err, "still logs"
  end

  def test_the_real_library_passes_the_abi_check
    Ffitel::Runtime.load!
    assert_equal Ffitel::Native::ABI_VERSION, Ffitel::Native.ffitel_abi_version
  end
end
