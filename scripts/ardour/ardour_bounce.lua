-- Headless Ardour 7 session steps for ardour_bounce.sh (run by ardour7-lua).
--   ardour7-lua ardour_bounce.lua create SESSION_DIR PLUGIN_NAME
--       new 48 kHz session, one MIDI track with the VST3 instrument, saved.
--   ardour7-lua ardour_bounce.lua export SESSION_DIR EXPORT_DIR NAME END_SAMPLE [record|freewheel]
--       reload the session (with the MIDI region ardour_bounce.sh added to
--       the track's playlist), export samples [0, END_SAMPLE) of the master bus
--       to EXPORT_DIR/NAME.wav (16-bit WAV at the session rate).
--       record (default): first a realtime bounce: the instrument track's output is
--         recorded onto an audio track while the transport rolls at 1x (the
--         Dummy backend's clock), then only that audio track feeds the export.
--       freewheel: export the instrument track directly. Ardour 7.3 keeps VST3
--         plugins in kRealtime process mode during a freewheel export, so a plugin
--         that renders on a worker thread (Sackbut) underruns: mostly silence.
-- Progress goes to stderr (print() output is lost if ardour7-lua crashes at exit).

local function log(...)
	local t = {}
	for _, v in ipairs({...}) do t[#t + 1] = tostring(v) end
	io.stderr:write("[lua] " .. table.concat(t, " ") .. "\n")
end

local function fail(msg)
	log("ERROR: " .. msg)
	io.stderr:write("ARDOUR_BOUNCE_FAILED\n")
	error(msg)
end

local mode = arg[1]

if mode == "create" then
	local dir, plugin_name = arg[2], arg[3]
	if not create_session(dir, "bounce", 48000) then fail("create_session failed: " .. dir) end
	log("session", Session:name(), "rate", Session:nominal_sample_rate())

	-- the instrument: the scanned VST3 (ardour-vst3-scanner must have run)
	local info = nil
	for p in ARDOUR.LuaAPI.list_plugins():iter() do
		if p.type == ARDOUR.PluginType.VST3 and p.name == plugin_name then info = p end
	end
	if not info then fail("VST3 plugin '" .. plugin_name .. "' not found (scanned?)") end
	log("plugin", info.name, info.unique_id)

	local tl = Session:new_midi_track(
		ARDOUR.ChanCount(ARDOUR.DataType("midi"), 1),
		ARDOUR.ChanCount(ARDOUR.DataType("audio"), 2),
		true, info, nil, nil, 1, plugin_name,
		ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true, false)
	if tl:size() ~= 1 then fail("new_midi_track failed") end
	local track = tl:front()
	local inst = track:the_instrument()
	if inst:isnil() then fail("track has no instrument") end
	log("track", track:name(), "instrument", inst:display_name(),
	    "playlist", track:playlist():name())
	Session:save_state("")
	log("CREATE_OK")

elseif mode == "export" then
	local dir, outdir, name, end_sample = arg[2], arg[3], arg[4], tonumber(arg[5])
	local how = arg[6] or "record"
	if not load_session(dir, "bounce") then fail("load_session failed: " .. dir) end
	local synth = nil

	-- check what the DAW sees: the track, its instrument, the region and its notes
	local n_notes = 0
	for t in Session:get_tracks():iter() do
		local mt = t:to_track():to_midi_track()
		if not mt:isnil() then
			synth = t
			log("track", t:name(), "instrument", t:the_instrument():display_name())
			for r in t:to_track():playlist():region_list():iter() do
				local mr = r:to_midiregion()
				local notes = ARDOUR.LuaAPI.note_list(mr:model())
				log("region", r:name(), "position", r:position():str(),
				    "length", r:length():str(), "notes", notes:size())
				n_notes = n_notes + notes:size()
			end
		end
	end
	if n_notes == 0 then fail("no MIDI notes on the track") end

	if how == "record" then
		-- realtime bounce: record the instrument track's output onto an audio track
		local bt = Session:new_audio_track(2, 2, nil, 1, "Bounce", ARDOUR.PresentationInfo.max_order,
		                                   ARDOUR.TrackMode.Normal, false):front()
		bt:input():disconnect_all(nil)
		for i = 0, 1 do
			local src = synth:output():audio(i):name()
			if bt:input():audio(i):connect(src) ~= 0 then fail("cannot connect " .. src) end
		end
		bt:rec_enable_control():set_value(1, PBD.GroupControlDisposition.NoGroup)
		Session:maybe_enable_record(false)
		local t0 = ARDOUR.LuaAPI.monotonic_time()
		Session:request_roll(ARDOUR.TransportRequestSource.TRS_UI)
		local guard = 0
		while Session:transport_sample() < end_sample do
			sleep(0.02); guard = guard + 1
			if guard > 50 * (end_sample / 48000 + 30) then fail("transport did not roll") end
		end
		Session:request_stop(false, false, ARDOUR.TransportRequestSource.TRS_UI)
		log("recorded 0 ..", Session:transport_sample(), "in", string.format("%.2f", (ARDOUR.LuaAPI.monotonic_time() - t0) / 1e6), "s (realtime)")
		local region = nil
		for _ = 1, 500 do
			for r in bt:playlist():region_list():iter() do region = r end
			if region then break end
			sleep(0.02)
		end
		if not region then fail("recording made no region") end
		log("recorded region", region:name(), "position", region:position():str(), "length", region:length():str())
		bt:rec_enable_control():set_value(0, PBD.GroupControlDisposition.NoGroup)
		synth:output():disconnect_all(nil) -- the master bus now hears only the recorded take
		Session:save_state("")
	end

	local ex = Session:simple_export()
	-- "WAV @ session-rate" preset (16-bit WAV, no normalization)
	if not ex:set_preset("75969a1c-3133-4694-864b-a1fa50e43348") then fail("WAV export preset not found") end
	ex:set_folder(outdir)
	ex:set_name(name)
	ex:set_range(0, end_sample)
	if not ex:check_outputs() then fail("export: master bus has no outputs") end
	log("exporting samples 0 ..", end_sample, "to", outdir .. "/" .. name .. ".wav")
	if not ex:run_export() then fail("run_export failed") end
	log("EXPORT_OK")
else
	fail("usage: ardour_bounce.lua create DIR PLUGIN | export DIR OUTDIR NAME END_SAMPLE")
end
