{#
    The event ids that raw.product_events holds more than once (an event re-sent in another
    file). Built once per run, and small (empty when nothing was re-sent): every read of
    stg_product__events and stg_product__identifies then ranks only these ids' copies instead
    of grouping all the raw rows again (first_copies).

    Incremental: a copy appears only when a row is loaded, so a run counts only the ids of rows
    loaded since the last build (a day's ids against the whole table, not every id) and adds
    those held more than once. An id whose copies were deleted since stays listed, which is
    correct: first_copies takes any superset of the copied ids (an id with one row ranks it
    first). Without saved state, every id is counted.
#}
{{
    config(
        materialized=('table' if target.type == 'spark' else 'incremental'),
        incremental_strategy='delete+insert',
        unique_key='event_id',
        on_schema_change='fail',
        post_hook="{{ save_newest_load([source('product', 'product_events')]) }}",
    )
}}

{%- set new_loads_only = is_incremental()
    and load_relation(incremental_state('loads')) is not none %}

with

source as (

    select * from {{ source('product', 'product_events') }}

),

{% if new_loads_only %}
last_build_loads as (

    select loaded_at from {{ incremental_state('loads') }}

),

-- ids of rows loaded since the last build (a row of unknown load time counts as new)
new_event_ids as (

    select distinct source.event_id
    from source
    cross join last_build_loads
    where source.loaded_at is null
        or last_build_loads.loaded_at is null
        or source.loaded_at > last_build_loads.loaded_at

),

candidates as (

    select source.event_id
    from source
    where source.event_id in (select event_id from new_event_ids)

),
{% else %}
candidates as (

    select event_id from source

),
{% endif %}

final as (

    select cast(event_id as {{ dbt.type_string() }}) as event_id
    from candidates
    where event_id is not null
    group by 1
    having count(*) > 1

)

select * from final
