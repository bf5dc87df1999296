-- The instant of ts_text: epoch seconds or milliseconds (1e11 and above), ISO 8601 with any
-- offset (naive is UTC under the session's UTC time zone), or YYYY/MM/DD HH:MM:SS.fff.
case
    when regexp_full_match(trim(ts_text), '-?[0-9]+(\.[0-9]+)?') then
        make_timestamp(
            cast(
                round(
                    cast(trim(ts_text) as double)
                    * case when abs(cast(trim(ts_text) as double)) >= 1e11 then 1e3 else 1e6 end
                ) as bigint
            )
        )::timestamptz
    else coalesce(
        try_cast(trim(ts_text) as timestamptz),
        try_strptime(
            trim(ts_text),
            ['%Y/%m/%d %H:%M:%S.%f', '%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M', '%Y/%m/%d']
        )::timestamptz
    )
end
