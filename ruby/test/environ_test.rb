# frozen_string_literal: true

require_relative "test_helper"
require "open3"
require "json"

# The library reads the environment once, at load: variables a Ruby program
# sets in ENV before its first ffitel call are seen.
class EnvironTest < Minitest::Test
  def test_env_set_in_ruby_before_loading_is_seen
    script = <<~RUBY
      ENV["FFITEL_WORKER_ID"] = "set-in-ruby-before-load"
      require "ffitel"
      print Ffitel.stats["worker_id"]
    RUBY
    env = { "FFITEL_WORKER_ID" => nil }
    out, err, status = Open3.capture3(env, RbConfig.ruby, "-I", File.expand_path("../lib", __dir__), "-e", script)
    assert status.success?, err
    assert_equal "set-in-ruby-before-load", out
  end
end
