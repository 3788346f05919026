# frozen_string_literal: true

module Ffitel
  VERSION = "0.1.0"
end
