require "json"
require "ffitel"
Ffitel.init_telemetry
50_000.times { |i| Ffitel.info("rb burst", i: i, user: "bob") }
2_000.times do |i|
  begin
    Ffitel.span("rb job", attributes: { "i" => i }) do |s|
      raise ArgumentError, "boom" if i % 100 == 0
    end
  rescue ArgumentError
  end
end
Ffitel.flush(timeout: 30)
st = Ffitel.stats["pipeline"]
Ffitel.shutdown(timeout: 30)
puts "STATS " + JSON.generate("logs" => st["logs"], "spans" => st["spans"])
bad = %w[logs spans].select { |k| st[k]["exported"] != st[k]["emitted"] || st[k]["dropped"] != 0 || st[k]["failed"] != 0 }
exit(bad.empty? ? 0 : 1)
