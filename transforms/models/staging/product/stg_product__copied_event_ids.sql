{#
    The event ids that raw.product_events holds more than once (an event re-sent in another
    file). Built once per run, and small (empty when nothing was re-sent): every read of
    stg_product__events and stg_product__identifies then ranks only these ids' copies instead
    of grouping all the raw rows again (first_copies).
#}
{{ config(materialized='table') }}

with

source as (

    select * from {{ source('product', 'product_events') }}

),

final as (

    select cast(event_id as {{ dbt.type_string() }}) as event_id
    from source
    where event_id is not null
    group by 1
    having count(*) > 1

)

select * from final
